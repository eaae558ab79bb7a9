"""The one exception type of the configuration layer."""


class ConfigError(ValueError):
    """A problem in the run configuration, phrased as one line per problem."""
