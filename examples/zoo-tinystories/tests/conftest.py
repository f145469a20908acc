pytest_plugins = ["registry.testing.pytest_plugin"]  # zoo's test kit
