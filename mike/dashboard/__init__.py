"""The dashboards at /app/: the product agencies, clients and call-centre agents sign in to.

A web layer over the domain services and selectors, as pretix's `control/` is over its `base/`:
it reads through each app's `for_user` querysets and selectors and writes only through services.
`access.py` holds the one place a request's tenant scope is decided.
"""
