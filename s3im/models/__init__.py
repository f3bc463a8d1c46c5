"""The neural fields S3IM is plugged into (one subpackage per model)."""
