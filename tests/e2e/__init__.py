"""End-to-end tests: a real OpenID provider, real servers and a real browser.

A package, so that the ``package``-scoped fixtures in conftest.py are torn
down (browser and servers stopped) as soon as these tests are done.
"""
