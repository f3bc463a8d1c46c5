#!/usr/bin/env bash
# nerf_correspondence: see reproduce/nerf_correspondence_pigan.py for what it runs and writes.
#
#   bash reproduce/nerf_correspondence_pigan.sh            # quick profile on the synthetic default
#   PROFILE=smoke bash reproduce/nerf_correspondence_pigan.sh
#   CELEBA_ROOT=../shared/data/celeba-128-pigan-eval-subset/CelebA_real_images_128 PROFILE=quick \
#       bash reproduce/nerf_correspondence_pigan.sh   # real faces
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" nerf_correspondence_pigan "$@"
