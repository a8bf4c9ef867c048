"""The application: settings, logging, the service lifecycle and the `hotline` CLI."""
