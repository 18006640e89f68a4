"""The run browser: HTML pages over the run folders under one root, mounted by the service at
``/runs`` (``router.make_browser_router``). It belongs to no tenant: it reads run folders only."""
