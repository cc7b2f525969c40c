"""One conformance target per platform (module name = platform name); see `suite.target`."""
