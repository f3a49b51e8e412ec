#!/usr/bin/env bash
# Build a small, Debian-like archive tree for examples, tests and benchmarks.
#
# Usage: make-archive.sh DIR [--serial S] [--pool-files N] [--suite NAME]
#
#   DIR             where to build the archive (created if missing)
#   --serial S      value of "Archive serial:" in project/trace/master
#                   (default: today's date as YYYYMMDD01)
#   --pool-files N  make the pool hold about N files (default 200); each
#                   source package brings a .dsc, an .orig.tar.xz and a
#                   .debian.tar.xz plus either three .debs (amd64, i386,
#                   arm64) or one _all.deb
#   --suite NAME    codename of the single suite (default bookworm); a
#                   `stable` symlink points at it
#
# The tree has what ftpsync's filters care about: dists/ with Release,
# InRelease, Packages{,.gz,.xz}, Sources.xz, Contents-*.gz, i18n/, dep11/,
# *.diff/Index, by-hash/, installer-*/current; pool/; indices/; ls-lR.gz;
# project/trace/master.
#
# Running it again on the same DIR keeps the existing pool files (their
# content depends only on their name) and rewrites indices, Release files and
# the master trace: with a new --serial this looks like an archive update.
# The pool files are written by bash builtins only (no process per file):
# 50,000 files take about 15 s on an ext4 disk, most of it spent by the
# kernel creating inodes, and about 5 s on tmpfs.
set -euo pipefail

usage() { # usage [STATUS]: help on stdout for --help, else on stderr
    if [[ ${1:-64} == 0 ]]; then
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
    fi
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit "$1"
}

DIR=""
SERIAL="$(date -u +%Y%m%d)01"
POOL_FILES=200
SUITE=bookworm
while (($#)); do
    case $1 in
        --serial) SERIAL=${2:?--serial needs a value}; shift 2 ;;
        --serial=*) SERIAL=${1#*=}; shift ;;
        --pool-files) POOL_FILES=${2:?--pool-files needs a value}; shift 2 ;;
        --pool-files=*) POOL_FILES=${1#*=}; shift ;;
        --suite) SUITE=${2:?--suite needs a value}; shift 2 ;;
        --suite=*) SUITE=${1#*=}; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "make-archive.sh: unknown option $1" >&2; usage 64 ;;
        *) [[ -z $DIR ]] || { echo "make-archive.sh: only one DIR" >&2; usage 64; }
           DIR=$1; shift ;;
    esac
done
[[ -n $DIR ]] || usage 64
[[ $POOL_FILES =~ ^[0-9]+$ ]] || { echo "make-archive.sh: --pool-files wants a number" >&2; exit 64; }

export LC_ALL=C
mkdir -p "$DIR"
cd "$DIR"

ARCHES=(amd64 i386 arm64)
SRCARCH=(any all)
COMP=main
D=dists/$SUITE
NOW_RFC=$(date -u -R)

# Compress to a file; when the compressor is missing (minimal systems) the
# file keeps the plain content: the tree is a fixture, nobody decompresses it.
# Fast settings: the content is what matters, not the ratio.
compress() { # compress SRC DEST PROGRAM [OPTION...]
    local src=$1 dest=$2
    shift 2
    if command -v "$1" >/dev/null 2>&1; then
        "$@" -c <"$src" >"$dest"
    else
        cp "$src" "$dest"
    fi
}

# ~250 bytes of padding so that files have a plausible, non-trivial size.
FILLER=""
for ((k = 0; k < 5; k++)); do
    FILLER+="archvsync example archive payload line $k: lorem ipsum dolor sit amet."$'\n'
done

WORDS=(alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo
    lima mike november oscar papa quebec romeo sierra tango uniform victor
    whiskey xray yankee zulu)

# ------------------------------------------------------------------ plan
# Decide the packages first, so that all directories are made by one mkdir.
names=() letters=() versions=() isall=()
count=0
for ((i = 0; count < POOL_FILES; i++)); do
    w=${WORDS[i % 26]}
    if ((i % 7 == 3)); then
        name="lib$w$i" letter="lib${w:0:1}"
    else
        name="$w$i" letter=${w:0:1}
    fi
    names+=("$name")
    letters+=("$letter")
    versions+=("$((i % 5 + 1)).$((i % 13)).$((i % 3))")
    if ((i % 4 == 0)); then
        isall+=(1); ((count += 4)) || true
    else
        isall+=(0); ((count += 6)) || true
    fi
done
NPKG=${#names[@]}

dirs=(project/trace indices/files "$D/$COMP/source" "$D/$COMP/i18n" "$D/$COMP/dep11")
for a in "${ARCHES[@]}" all; do
    dirs+=("$D/$COMP/binary-$a/Packages.diff" "$D/$COMP/binary-$a/by-hash/SHA256")
done
for ((i = 0; i < NPKG; i++)); do
    dirs+=("pool/$COMP/${letters[i]}/${names[i]}")
done
printf '%s\0' "${dirs[@]}" | xargs -0 mkdir -p
ln -sfn "$SUITE" dists/stable

# ------------------------------------------------------------------ pool + indices
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

exec {SRC}>"$tmp/Sources"
declare -A PKGFD CONTFD
for a in "${ARCHES[@]}" all; do
    exec {fd}>"$tmp/Packages-$a"
    PKGFD[$a]=$fd
done
for a in "${ARCHES[@]}"; do
    exec {fd}>"$tmp/Contents-$a"
    CONTFD[$a]=$fd
done
declare -A LISTFD
for a in "${ARCHES[@]}"; do
    exec {fd}>"$tmp/files-$a"
    LISTFD[$a]=$fd
done
exec {TR}>"$tmp/Translation-en"

# write_file PATH HEADER: write PATH unless it exists; sets SIZE.
write_file() {
    SIZE=$((${#2} + 1 + ${#FILLER}))
    [[ -e $1 ]] || printf '%s\n%s' "$2" "$FILLER" >"$1"
}

for ((i = 0; i < NPKG; i++)); do
    p=${names[i]} v=${versions[i]} dir="pool/$COMP/${letters[i]}/${names[i]}"
    rev="$v-1"

    write_file "$dir/${p}_$v.orig.tar.xz" "upstream tarball of $p $v (#$i)"
    osize=$SIZE
    write_file "$dir/${p}_$rev.debian.tar.xz" "debian directory of $p $rev (#$i)"
    dsize=$SIZE
    write_file "$dir/${p}_$rev.dsc" "Format: 3.0 (quilt)
Source: $p
Version: $rev"
    printf 'Package: %s\nBinary: %s\nVersion: %s\nMaintainer: Example Maintainer <maint@example.org>\nArchitecture: %s\nFormat: 3.0 (quilt)\nDirectory: %s\nFiles:\n 0 %s %s\n 0 %s %s\n 0 %s %s\nSection: utils\nPriority: optional\n\n' \
        "$p" "$p" "$rev" "${SRCARCH[isall[i]]}" "$dir" \
        "$SIZE" "${p}_$rev.dsc" "$osize" "${p}_$v.orig.tar.xz" "$dsize" "${p}_$rev.debian.tar.xz" >&"$SRC"
    printf '\nPackage: %s\nDescription-md5: 0\nDescription-en: example package %s\n' "$p" "$p" >&"$TR"

    if ((isall[i])); then
        debarches=(all)
    else
        debarches=("${ARCHES[@]}")
    fi
    for a in "${debarches[@]}"; do
        f="$dir/${p}_${rev}_$a.deb"
        write_file "$f" "!<arch> binary package $p $rev for $a (#$i)"
        stanza="Package: $p
Version: $rev
Installed-Size: $((SIZE / 10 + 4))
Maintainer: Example Maintainer <maint@example.org>
Architecture: $a
Description: example package $p
Section: utils
Priority: optional
Filename: $f
Size: $SIZE
"
        printf '%s\n' "$stanza" >&"${PKGFD[$a]}"
        if [[ $a == all ]]; then
            for b in "${ARCHES[@]}"; do
                printf '%s\n' "$stanza" >&"${PKGFD[$b]}"
                printf 'usr/share/doc/%s/README\tutils/%s\n' "$p" "$p" >&"${CONTFD[$b]}"
                printf './%s\n' "$f" >&"${LISTFD[$b]}"
            done
        else
            printf 'usr/bin/%s\tutils/%s\n' "$p" "$p" >&"${CONTFD[$a]}"
            printf './%s\n' "$f" >&"${LISTFD[$a]}"
        fi
    done
done
exec {SRC}>&- {TR}>&-
for fd in "${PKGFD[@]}" "${CONTFD[@]}" "${LISTFD[@]}"; do exec {fd}>&-; done

# ------------------------------------------------------------------ dists
for a in "${ARCHES[@]}" all; do
    b=$D/$COMP/binary-$a
    cp "$tmp/Packages-$a" "$b/Packages"
    gzip -n -c <"$b/Packages" >"$b/Packages.gz"
    compress "$b/Packages" "$b/Packages.xz" xz -1
    printf 'Archive: stable\nComponent: %s\nArchitecture: %s\n' "$COMP" "$a" >"$b/Release"
    printf 'SHA256-Current: 0 0\nSHA256-History:\nSHA256-Patches:\n' >"$b/Packages.diff/Index"
    printf 'patch for %s %s\n' "$a" "$SERIAL" | gzip -9n >"$b/Packages.diff/T-$SERIAL-F-$SERIAL.gz"
    h=$(sha256sum <"$b/Packages.xz")
    cp "$b/Packages.xz" "$b/by-hash/SHA256/${h%% *}"
done
for a in "${ARCHES[@]}"; do
    gzip -n -c <"$tmp/Contents-$a" >"$D/$COMP/Contents-$a.gz"
    printf 'usr/lib/debian-installer/example-%s\tdebian-installer/example-udeb\n' "$a" |
        gzip -9n >"$D/$COMP/Contents-udeb-$a.gz"
    printf 'example dep11 data for %s\n' "$a" | gzip -9n >"$D/$COMP/dep11/Components-$a.yml.gz"
    cp "$tmp/files-$a" "indices/files/arch-$a.files"
    gzip -n -c <"$tmp/files-$a" >"indices/files/arch-$a.list.gz"
done
compress "$tmp/Sources" "$D/$COMP/source/Sources.xz" xz -1
gzip -n -c <"$tmp/Sources" >"$D/$COMP/source/Sources.gz"
printf 'Archive: stable\nComponent: %s\nArchitecture: source\n' "$COMP" >"$D/$COMP/source/Release"
compress "$tmp/Translation-en" "$D/$COMP/i18n/Translation-en.bz2" bzip2 -1

# Debian installer images, with the `current` symlink stage 1 must skip.
inst=$D/$COMP/installer-amd64
iver=20230607+deb12u1
mkdir -p "$inst/$iver/images/netboot" "$inst/$iver/images/cdrom"
for f in netboot/mini.iso netboot/netboot.tar.gz cdrom/vmlinuz cdrom/initrd.gz; do
    printf 'installer image %s %s\n%s' "$iver" "$f" "$FILLER" >"$inst/$iver/images/$f"
done
(
    cd "$inst/$iver/images"
    rm -f MANIFEST SHA256SUMS
    find . -type f | sort | sed 's|^\./||' >"$tmp/MANIFEST"
    mv "$tmp/MANIFEST" MANIFEST
    find . -type f | sort | xargs sha256sum >"$tmp/SHA256SUMS"
    mv "$tmp/SHA256SUMS" SHA256SUMS
)
ln -sfn "$iver" "$inst/current"

# Release: checksums of every index file of the suite.
(
    cd "$D"
    mapfile -t idx < <(find . \( -name by-hash -o -name 'installer-*' \) -prune -o -type f \
        ! -name Release ! -name InRelease ! -name Release.gpg -print | sed 's|^\./||' | sort)
    mapfile -t sizes < <(stat -c %s "${idx[@]}")
    mapfile -t md5 < <(md5sum "${idx[@]}")
    mapfile -t sha < <(sha256sum "${idx[@]}")
    {
        printf 'Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.0\nCodename: %s\n' "$SUITE"
        printf 'Date: %s\nAcquire-By-Hash: yes\nArchitectures: %s\nComponents: %s\n' \
            "$NOW_RFC" "${ARCHES[*]} all" "$COMP"
        printf 'Description: archvsync example archive, serial %s\n' "$SERIAL"
        echo "MD5Sum:"
        for k in "${!idx[@]}"; do printf ' %s %8s %s\n' "${md5[k]%% *}" "${sizes[k]}" "${idx[k]}"; done
        echo "SHA256:"
        for k in "${!idx[@]}"; do printf ' %s %8s %s\n' "${sha[k]%% *}" "${sizes[k]}" "${idx[k]}"; done
    } >Release
    fakesig="-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEEexampleexampleexampleexampleexampleFAmdummy
=fake
-----END PGP SIGNATURE-----"
    printf '%s\n' "$fakesig" >Release.gpg
    {
        printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n'
        cat Release
        printf '%s\n' "$fakesig"
    } >InRelease
)

# ------------------------------------------------------------------ top level
printf 'Example Debian-like archive built by archvsync examples/local/make-archive.sh.\n' >README
printf 'override data for %s\n' "$SUITE" | gzip -9n >"indices/override.$SUITE.$COMP.gz"
find . -path ./project -prune -o ! -name 'ls-lR*' -print | sort | gzip -n >ls-lR.gz.new
mv ls-lR.gz.new ls-lR.gz

{
    date -u
    printf 'Date: %s\n' "$NOW_RFC"
    printf 'Date-Started: %s\n' "$NOW_RFC"
    printf 'Archive serial: %s\n' "$SERIAL"
    printf 'Used dak version: example\n'
    printf 'Creator: archvsync make-archive.sh\n'
    printf 'Running on host: ftp-master.example.org\n'
} >project/trace/master.new
mv project/trace/master.new project/trace/master
printf 'master ftp-master.example.org ftp-master.example.org unknown\n' >project/trace/_hierarchy.mirror
