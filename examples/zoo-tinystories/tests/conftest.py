from registry.api import TEST_KIT

pytest_plugins = [TEST_KIT]  # zoo's test kit: zoo_home, plugin_catalog, hf_hub, kaggle_hub, zoo_cli
