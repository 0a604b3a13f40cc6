"""Server-rendered pages: Jinja2 rendering, security headers and the operator dashboard."""
