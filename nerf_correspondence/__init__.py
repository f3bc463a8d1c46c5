"""Dense NeRF correspondence through generative structural priors (pi-GAN + BDF). See README.md."""
