"""Dynamic NeRF (Gao et al., ICCV 2021): static + dynamic NeRF with scene flow and blending, S3IM multiplex training."""
