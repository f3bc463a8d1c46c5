"""D-NeRF (Pumarola et al. 2021): a deformation network into a canonical NeRF, with S3IM multiplex training."""
