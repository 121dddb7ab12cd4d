# Sourced by dev/sanitize.sh and dev/fuzz.sh: copy the tree to a scratch folder, build the
# native engine there with AddressSanitizer + UndefinedBehaviorSanitizer, and set SAN_ENV
# (an `env` argument list) to run Python against that build. Needs ROOT and PY set.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/dlsynth-asan.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$SCRATCH"/ 2>/dev/null || true)
(cd "$SCRATCH" && { DLSYNTH_SANITIZE=1 "$PY" setup.py -q build_ext --inplace >/dev/null 2>&1 || DLSYNTH_SANITIZE=1 "$PY" setup.py build_ext --inplace; })
LIBASAN="$(gcc -print-file-name=libasan.so)"
SAN_ENV=(PYTHONPATH="$SCRATCH" LD_PRELOAD="$LIBASAN"
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    DLSYNTH_UNDER_SANITIZER=1)
