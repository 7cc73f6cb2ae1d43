#!/bin/bash
# vm-image.sh - a bootable Debian 12 disk for VM test hosts (hosts.sh vm-up), built once.
#
# Namespace hosts share the machine's kernel, so what needs a kernel of its own cannot be shown
# in them: loading audit rules, auditd writing the audit log, systemd services. A VM host can.
# KVM does not work on these machines (shared/reference/testhosts/NOTES.md §4), so the VM runs
# under QEMU's TCG: about 40 s to boot, 10-20x slower than native.
#
# Builds, under $TESTHOSTS/vm (idempotent: a stamp records a finished build):
#   debian12.qcow2   ext4 (label root) made from a copy of $TESTHOSTS/root plus a kernel,
#                    systemd, udev, kmod and dbus (without dbus, OpenSCAP's service_* probes
#                    give "error"); `mke2fs -d`, so no loop device and no mount
#   vmlinuz, initrd.img   for QEMU's direct kernel boot (initramfs with virtio and ext4 only)
#   ssh_host_ed25519_key.pub   the image's host key (every boot of this image has it)
# Keys: the operator key ($TESTHOSTS/keys/id_ed25519.pub) is authorized for root and for the
# sudo user `hardenctl`, as on the namespace hosts. The guest has no package lists (apt-get
# fixes fail at once) and networkd DHCP on QEMU's user network (hosts.sh runs QEMU in a network
# namespace whose only link is the test hosts' private bridge: no route out).
#
# env: TESTHOSTS (default /tmp/hardenctl-testhosts), FORCE=1 (rebuild),
#      KERNEL_PKG (default linux-image-amd64)
set -euo pipefail

TESTHOSTS=${TESTHOSTS:-/tmp/hardenctl-testhosts}
KERNEL_PKG=${KERNEL_PKG:-linux-image-amd64}
VM_PKGS="$KERNEL_PKG systemd-sysv udev kmod dbus"
BASE=$TESTHOSTS/root
VMDIR=$TESTHOSTS/vm
KEY=$TESTHOSTS/keys/id_ed25519
DISK=3G
STAMP=$VMDIR/.built
STAMP_VERSION="v1 $VM_PKGS $(cat "$TESTHOSTS/.prepared" 2>/dev/null)"

log() { echo "vm-image: $*" >&2; }
die() { echo "vm-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
[ -x "$BASE/usr/sbin/sshd" ] && [ -f "$KEY.pub" ] || die "no root at $BASE: run scripts/testhosts/prepare.sh first"

if [ -z "${FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_VERSION" ] \
   && [ -f "$VMDIR/debian12.qcow2" ] && [ -f "$VMDIR/vmlinuz" ] && [ -f "$VMDIR/initrd.img" ]; then
  log "already built ($VMDIR/debian12.qcow2)"
  exit 0
fi

mkdir -p "$VMDIR"
exec 9>"$VMDIR/.lock"
flock 9

need=()
for p in qemu-system-x86 qemu-utils e2fsprogs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q install --no-install-recommends "${need[@]}" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -q update >&2 \
         && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q install --no-install-recommends "${need[@]}" >&2; }
fi

t0=$(date +%s.%N)
rm -f "$STAMP"
R=$VMDIR/rootfs
rm -rf --one-file-system "$R"
cp -a "$BASE" "$R"

# apt in the copy, with proc/sys/dev in a private mount namespace (nothing mounted on the
# machine's tree survives this script); services are not started (policy-rc.d).
in_root() {
  unshare --mount --fork --propagation private bash -euc '
    r=$1; shift
    mount -t proc proc "$r/proc"; mount -t sysfs sysfs "$r/sys"; mount --bind /dev "$r/dev"
    mount -t devpts devpts "$r/dev/pts" -o newinstance,ptmxmode=0666 || true
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    printf "#!/bin/sh\nexit 101\n" >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
    rc=0
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    rm -f "$r/usr/sbin/policy-rc.d"
    exit $rc
  ' _ "$R" "$@"
}

# a small initramfs: what a virtio disk with an ext4 root needs (boots faster under TCG)
mkdir -p "$R/etc/initramfs-tools/conf.d"
echo "MODULES=list" >"$R/etc/initramfs-tools/conf.d/hardenctl-vm.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$R/etc/initramfs-tools/modules"
log "installing $VM_PKGS (mirror: $(awk '{print $2; exit}' "$R/etc/apt/sources.list"))"
in_root apt-get -q -o DPkg::Lock::Timeout=900 update >"$VMDIR/build.log" 2>&1 \
  && in_root apt-get -q -y -o DPkg::Lock::Timeout=900 install --no-install-recommends $VM_PKGS >>"$VMDIR/build.log" 2>&1 \
  || { tail -20 "$VMDIR/build.log" >&2; die "package installation failed (log $VMDIR/build.log)"; }
in_root apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin
ls "$R"/boot/vmlinuz-* >/dev/null 2>&1 || die "no kernel in the image"

# guest configuration
echo debian12-vm >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian12-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
echo 'LABEL=root / ext4 defaults,errors=remount-ro 0 1' >"$R/etc/fstab"
mkdir -p "$R/etc/systemd/network" "$R/etc/systemd/system/multi-user.target.wants" "$R/etc/systemd/system/sockets.target.wants"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$R/etc/systemd/network/20-wired.network"
ln -sf /lib/systemd/system/systemd-networkd.service "$R/etc/systemd/system/multi-user.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.socket "$R/etc/systemd/system/sockets.target.wants/"
# no getty on tty1..6 (there is no display), the serial console is kept
ln -sf /dev/null "$R/etc/systemd/system/getty@.service"
rm -f "$R"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -C debian12-vm -f "$R/etc/ssh/ssh_host_ed25519_key"
cp "$R/etc/ssh/ssh_host_ed25519_key.pub" "$VMDIR/ssh_host_ed25519_key.pub"
install -d -m 700 "$R/root/.ssh"
install -m 600 "$KEY.pub" "$R/root/.ssh/authorized_keys"
uid=$(awk -F: '$1=="hardenctl"{print $3}' "$R/etc/passwd")
gid=$(awk -F: '$1=="hardenctl"{print $4}' "$R/etc/passwd")
install -d -m 700 -o "$uid" -g "$gid" "$R/home/hardenctl/.ssh"
install -m 600 -o "$uid" -g "$gid" "$KEY.pub" "$R/home/hardenctl/.ssh/authorized_keys"

kernel=$(ls -1 "$R"/boot/vmlinuz-* | sort -V | tail -1)
cp "$kernel" "$VMDIR/vmlinuz"
cp "$(ls -1 "$R"/boot/initrd.img-* | sort -V | tail -1)" "$VMDIR/initrd.img"
rm -f "$VMDIR/root.raw" "$VMDIR/debian12.qcow2"
mke2fs -q -t ext4 -L root -d "$R" "$VMDIR/root.raw" "$DISK"
qemu-img convert -f raw -O qcow2 "$VMDIR/root.raw" "$VMDIR/debian12.qcow2"
rm -rf --one-file-system "$VMDIR/root.raw" "$R"
echo "$STAMP_VERSION" >"$STAMP"
printf 'vm-image: built in %.1f s: %s (%s), kernel %s\n' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" \
  "$VMDIR/debian12.qcow2" "$(du -h "$VMDIR/debian12.qcow2" | cut -f1)" "${kernel##*/vmlinuz-}" >&2
