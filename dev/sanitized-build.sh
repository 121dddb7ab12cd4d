# Sourced by dev/sanitize.sh and dev/fuzz.sh: copy the tree to a scratch folder, build the
# native engine there with AddressSanitizer + UndefinedBehaviorSanitizer (or, with
# SANITIZER=thread set before sourcing, ThreadSanitizer), and set SAN_ENV (an `env`
# argument list) to run Python against that build. Needs ROOT and PY set.
SANITIZER="${SANITIZER:-address}"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/dlsynth-san.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$SCRATCH"/ 2>/dev/null || true)
# The copy is imported from its own folder, not the installed package: dlsynth/'s parts are
# linked beside its __init__.py, as the package mapping in pyproject.toml puts them.
bash "$ROOT/dev/link-package.sh" "$SCRATCH"
if [ "$SANITIZER" = thread ]; then SAN_KIND=thread SAN_LIB=libtsan.so; else SAN_KIND=1 SAN_LIB=libasan.so; fi
(cd "$SCRATCH" && { DLSYNTH_SANITIZE=$SAN_KIND "$PY" setup.py -q build_ext --inplace >/dev/null 2>&1 || DLSYNTH_SANITIZE=$SAN_KIND "$PY" setup.py build_ext --inplace; })
LIBSAN="$(gcc -print-file-name=$SAN_LIB)"
if [ "$SANITIZER" = thread ]; then
    SAN_ENV=(PYTHONPATH="$SCRATCH" LD_PRELOAD="$LIBSAN"
        TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:report_signal_unsafe=0"
        DLSYNTH_UNDER_SANITIZER=thread)
else
    SAN_ENV=(PYTHONPATH="$SCRATCH" LD_PRELOAD="$LIBSAN"
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
        DLSYNTH_UNDER_SANITIZER=1)
fi
