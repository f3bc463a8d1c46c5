"""S3IM: Stochastic Structural SIMilarity and multiplex training of neural fields (Xie et al., ICCV 2023)."""

from s3im.loss import S3IM, S3IMTerm

__all__ = ["S3IM", "S3IMTerm"]
