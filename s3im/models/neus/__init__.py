"""NeuS (Wang et al. 2021) as in the official Totoro97/NeuS code, with S3IM multiplex training (sdfstudio hook)."""
