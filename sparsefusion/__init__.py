"""SparseFusion: distilling view-conditioned diffusion for 3D reconstruction (Zhou, Tulsiani). See README.md."""
