"""HTTP layer: routers and the dependencies that hand them services."""
