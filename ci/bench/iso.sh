#!/usr/bin/env bash
# ISO writer benchmark: the same file tree (the installer ISO's own tree, with
# its ~310 MB system image; PAYLOAD_MB adds random bytes on top) written by our writer
# (lockstep-mkiso, the code lockstep-build iso uses) and by xorriso -as mkisofs with the same hybrid options,
# alternately, 3 runs each. Prints median wall time and peak RSS of both and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
iso=${1:-$(ls out/lockstep-*.iso | head -1)}
runs=${RUNS:-3}
payload_mb=${PAYLOAD_MB:-0}
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
command -v xorriso >/dev/null || { echo "bench: xorriso missing (apt-get install xorriso)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lockstep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
xorriso -osirrox on -indev "$iso" -extract / "$tree" >/dev/null 2>&1
chmod -R u+w "$tree"
rm -f "$tree/isolinux/boot.cat"          # both writers make their own catalog
head -c 432 "$iso" > "$work/isohdpfx.bin" # our ISO starts with syslinux's hybrid MBR code
mkdir -p "$tree/lockstep"
if [ "$payload_mb" -gt 0 ]; then head -c "${payload_mb}M" /dev/urandom > "$tree/lockstep/payload.bin"; fi
go build -o "$work/lockstep-mkiso" ./cmd/lockstep-mkiso

ours=("$work/lockstep-mkiso" -tree "$tree" -o "$work/ours.iso" -mbr "$work/isohdpfx.bin" -gpt)
xorriso_=(xorriso -as mkisofs -quiet -R -V LOCKSTEP -o "$work/xorriso.iso"
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table
  -eltorito-alt-boot -e boot/efi.img -no-emul-boot
  -isohybrid-mbr "$work/isohdpfx.bin" -isohybrid-gpt-basdat "$tree")
measure() { # prints "seconds maxrss_kib"
  /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  cat "$work/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

"${ours[@]}"; "${xorriso_[@]}" # warm the page cache for both
: > "$work/ours.txt"; : > "$work/x.txt"
for i in $(seq "$runs"); do
  rm -f "$work/ours.iso" "$work/xorriso.iso"; measure "${ours[@]}" >> "$work/ours.txt"
  rm -f "$work/ours.iso" "$work/xorriso.iso"; measure "${xorriso_[@]}" >> "$work/x.txt"
done
ot=$(cut -d' ' -f1 "$work/ours.txt" | median); om=$(cut -d' ' -f2 "$work/ours.txt" | median)
xt=$(cut -d' ' -f1 "$work/x.txt" | median);    xm=$(cut -d' ' -f2 "$work/x.txt" | median)
measure "${ours[@]}" >/dev/null; measure "${xorriso_[@]}" >/dev/null
os=$(stat -c %s "$work/ours.iso"); xs=$(stat -c %s "$work/xorriso.iso")
initrd=$(stat -c %s "$tree/boot/initrd.img")
tree_mb=$(du -sm "$tree" | cut -f1)

printf '\nISO writer benchmark: %s MiB tree, median of %s runs (peer: xorriso %s)\n' "$tree_mb" "$runs" "$(xorriso -version 2>/dev/null | sed -n 's/^xorriso version *: *//p' | head -1)"
printf '%-24s %12s %14s %14s\n' writer "wall s" "peak RSS MiB" "output MiB"
printf '%-24s %12s %14.1f %14.1f\n' "lockstep-mkiso" "$ot" "$(echo "$om/1024" | bc -l)" "$(echo "$os/1048576" | bc -l)"
printf '%-24s %12s %14.1f %14.1f\n' "xorriso -as mkisofs" "$xt" "$(echo "$xm/1024" | bc -l)" "$(echo "$xs/1048576" | bc -l)"
printf 'ratio ours/xorriso: time %.2fx (goal <= 1.0), memory %.2fx (goal <= 1.0)\n' "$(echo "$ot/$xt" | bc -l)" "$(echo "$om/$xm" | bc -l)"
printf 'compressed initramfs: %.1f MiB (goal < 64 MiB)\n' "$(echo "$initrd/1048576" | bc -l)"
