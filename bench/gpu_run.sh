#!/usr/bin/env bash
# The test suite and the benches on a GPU machine, in one time-boxed call.
#
#   OUT=gpu_out bash bench/gpu_run.sh [WHEEL_DIR] [BUDGET_SECONDS]
#
# SECTIONS (default "tests w1 w2 quantiles gp sdf") picks the sections and the order of
# the benches (the tests run first); TESTS (pytest arguments, default the whole default
# suite), W1_ARGS, W2_ARGS, Q_ARGS, GP_ARGS and SDF_ARGS override what each runs, and
# CAP_TESTS, CAP_W1, ... CAP_SDF the seconds each may take.
#
# The GPU image has jax (CUDA), equinox, optax, scikit-image and matplotlib but none of
# ott-jax, POT, gpjax or trimesh, and no network: they travel as wheels in WHEEL_DIR
# (default .whl; see bench/README.md, "GPU"), installed with --no-deps into /tmp/site.
# Each section gets a share of BUDGET_SECONDS (default 560) and is cut at the deadline,
# so a slow section shortens the later ones instead of losing the whole call. Logs go
# to $OUT/*.txt; the last lines printed summarise them.
set -u
OUT=${OUT:-gpu_out}
WHEELS=${1:-.whl}
BUDGET=${2:-560}
SECTIONS=${SECTIONS:-"tests w1 w2 quantiles gp sdf"}
TESTS=${TESTS:-tests}
W1_ARGS=${W1_ARGS:-"--sizes 8000"}
W2_ARGS=${W2_ARGS:-"--dims 2 16 64 --seeds 0 --pot-n --no-ott --other-methods"}
Q_ARGS=${Q_ARGS:-"--quick --sections neural,scaling --large"}
GP_ARGS=${GP_ARGS:-""}
SDF_ARGS=${SDF_ARGS:-"--shapes torus --inputs clean,noise1,outliers10"}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET))

if [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

# run NAME SECONDS CMD...: cap SECONDS at the time left before the deadline
run() {
    local name=$1 want=$2
    shift 2
    case " $SECTIONS " in *" ${name%_highest} "*) ;; *) return 0 ;; esac
    local left=$((DEADLINE - $(date +%s) - 5))
    local cap=$((want < left ? want : left))
    if [ "$cap" -lt 10 ]; then
        echo "[$name] skipped: no time left" | tee "$OUT/$name.txt"
        return 0
    fi
    local t=$(date +%s)
    timeout -k 5 "$cap" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    echo "[$name] rc=$rc in $(($(date +%s) - t)) s (cap $cap s)" | tee -a "$OUT/$name.txt"
    return 0
}

{
    nvidia-smi -L 2>&1
    python3 - <<'EOF'
import platform, jax, equinox, optax, numpy, scipy, skimage
print("python", platform.python_version(), "jax", jax.__version__, "equinox", equinox.__version__,
      "optax", optax.__version__, "numpy", numpy.__version__, "skimage", skimage.__version__)
print("devices", jax.devices())
import ott, ot, trimesh, otlip
print("ott-jax", ott.__version__, "POT", ot.__version__, "trimesh", trimesh.__version__)
EOF
} >"$OUT/env.txt" 2>&1 || { cat "$OUT/env.txt"; echo "environment check failed"; exit 1; }
python3 -c "import gpjax, otlip.gp; print('gpjax', gpjax.__version__)" >>"$OUT/env.txt" 2>&1 \
    || echo "otlip.gp does not import with this jax (gpjax 1.0 caps jax < 0.11)" >>"$OUT/env.txt"
cat "$OUT/env.txt"

# Test suite: xdist workers share the GPU, so no preallocation; the notebook tests need
# Jupyter, absent from the image. Failures are re-run with float32 matmuls forced to full
# precision, to tell TF32 rounding from real bugs.
TEST_ENV=(env XLA_PYTHON_CLIENT_PREALLOCATE=false)
# shellcheck disable=SC2086
run tests "${CAP_TESTS:-170}" "${TEST_ENV[@]}" python3 -m pytest -q -n 8 -p no:cacheprovider \
    --ignore-glob='*notebook*' -rfE --durations=10 $TESTS
if [ -f "$OUT/tests.txt" ] && grep -q -E "^(FAILED|ERROR) " "$OUT/tests.txt"; then
    ids=$(grep -E "^(FAILED|ERROR) " "$OUT/tests.txt" | awk '{print $2}' | sort -u | head -40)
    # shellcheck disable=SC2086
    run tests_highest 60 "${TEST_ENV[@]}" JAX_DEFAULT_MATMUL_PRECISION=highest \
        python3 -m pytest -q -n 8 -p no:cacheprovider -rfE $ids
fi

# The benches, in the order SECTIONS lists them (the first ones get their full share).
for section in $SECTIONS; do
    # shellcheck disable=SC2086
    case $section in
    w1) run w1 "${CAP_W1:-90}" python3 bench/w1.py $W1_ARGS ;;
    w2) run w2 "${CAP_W2:-100}" python3 bench/w2.py $W2_ARGS ;;
    quantiles) run quantiles "${CAP_QUANTILES:-50}" python3 bench/quantiles.py $Q_ARGS ;;
    gp) run gp "${CAP_GP:-80}" python3 bench/gp.py $GP_ARGS ;;
    sdf) run sdf "${CAP_SDF:-60}" python3 bench/sdf_mesh.py $SDF_ARGS ;;
    esac
done

echo "== summary ($(($(date +%s) - T0)) s)"
for f in "$OUT"/*.txt; do
    echo "-- $(basename "$f")"
    grep -E "^\[|passed|failed|^\| |ratio|goal|W1 |error" "$f" | grep -v -E "^\|[- |]+\|$" | tail -25
done
