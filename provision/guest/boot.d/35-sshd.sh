# sshd starts as soon as its host key is there (30; it listens on every
# address, so the network may come up after); the scripts after it run while
# it starts. Commands from the host wait for
# /run/launcher/ready (launcher.vm.guest), written when every script is done.
/usr/sbin/sshd -D -e -r &
LAUNCHER_SSHD=$!
