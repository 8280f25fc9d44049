"""Starting and scaling the real components: redis-server, uvicorn, Ray, locust.

Everything here starts processes on 127.0.0.1 only, on free ports, and stops
exactly the processes it started (by id), so a test or a demo never leaves a
server behind and never touches anyone else's.
"""
