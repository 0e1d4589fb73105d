"""The VM backend: a small Linux guest (QEMU or libvirt) running launcher's own
native backend, reached over SSH. See machine.py for the model."""
