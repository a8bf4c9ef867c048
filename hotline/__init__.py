"""hotline: IVR and seat routing for the 12366 taxpayer-service hotline."""

__version__ = "0.1.0"
