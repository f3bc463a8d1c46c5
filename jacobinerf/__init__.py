"""JacobiNeRF: NeRF shaping with mutual-information gradients (Xu et al., CVPR 2023). See README.md."""
