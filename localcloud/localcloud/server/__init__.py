"""localcloud's API server: a local Yandex Cloud for the part of the API the collection uses.

Built from the SDK's generated stubs (Servicer base classes, message types), served over gRPC + TLS.
Layout: app.py (state, bootstrap, serving), cli.py (serve/stop), rpc.py (auth, faults, call log around every
call), operations.py (Operation + OperationService), store.py (SQLite), registry.py (servicers, references),
validate.py / masks.py (request checks, update masks), access.py (access bindings), admin.py (HTTP admin),
services/<api>_<resource>.py (one module per service).
"""
