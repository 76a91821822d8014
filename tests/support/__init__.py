"""What the tests share: servers, stand-in peers and the ways of sending a request."""
