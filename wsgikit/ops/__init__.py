"""Running the server as a process: the CLI and ``wsgikit check``, the run loop and the app
stack, the pre-fork arbiter, the reloader, systemd and the watchdog, the status and metrics
endpoints, and the app loader. Built on :mod:`wsgikit.server`; never imported by it.
"""
