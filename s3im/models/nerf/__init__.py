"""Vanilla NeRF (coarse + fine, nerf-pytorch) for standard and multiplex (S3IM) training."""
