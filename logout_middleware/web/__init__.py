"""The web's details: cookies, browser checks, coming back to a page, the form POST, the query string."""
