"""Deploy taskora to Kubernetes with the Helm chart and cloud profiles shipped in this package.

This package never imports ``taskora.server``: deploying needs only the chart and ``helm``.
"""
