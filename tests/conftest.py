pytest_plugins = ["aiguard.testing.pytest_plugin"]
