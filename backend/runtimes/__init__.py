"""Model runtimes: one plugin per way of running a model (see ``base``)."""
