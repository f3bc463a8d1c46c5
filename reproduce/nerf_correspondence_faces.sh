#!/usr/bin/env bash
# nerf_correspondence: BDF on the official pi-GAN CelebA generator (paper Figs. 5 and 8); see
# reproduce/nerf_correspondence_faces.py.
#
#   PIGAN_CHECKPOINT_DIR=/path/holding/generator.pth+ema.pth bash reproduce/nerf_correspondence_faces.sh
#   PROFILE=smoke|quick|paper (default quick)
# Environment and overrides: reproduce/run.sh.
exec bash "$(dirname "$0")/run.sh" nerf_correspondence_faces "$@"
