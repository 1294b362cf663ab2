# tests.shared_stack: the bundled shop's stack shared by the integration tests (`shop_stack`)
pytest_plugins = ["pytester", "tests.shared_stack"]
