"""Seccomp: Docker-format profiles, launcher's default profile, and BPF compilation."""
