// membw-bench: streaming read bandwidth of main memory, the roofline for
// batch-1 decode (every step streams ~96.6 MB of weights, REFERENCE.md 13).
//
// Sums 64-bit words of a buffer far larger than the last-level cache with 1
// and with 2 threads (each thread reads a disjoint contiguous half) and prints
// one JSON object:
//   {"read_gb_s_1t": x, "read_gb_s_2t": x, "buffer_bytes": n, "reps": r, ...}
// GB is 1e9 bytes. The best repetition is reported: interference from other
// processes only ever slows a run down, so the maximum is the least noisy
// estimate of what the hardware can deliver.
//
// A plain main(): the Google Benchmark library is linked but not used.

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"

namespace {

// Four independent accumulators let the compiler keep several vector
// additions in flight; target_clones gives an AVX2 version on CPUs that have
// it while the file stays baseline x86-64 (the ifunc resolver picks at load).
__attribute__((target_clones("avx2", "default"))) uint64_t SumWords(
    const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

// Returns the best bandwidth in GB/s over `reps` passes with `threads`
// threads; *checksum accumulates the sums so the loads cannot be elided.
double MeasureReadGbS(const uint64_t* buf, size_t words, int threads,
                      int reps, uint64_t* checksum) {
  double best = 0.0;
  std::vector<uint64_t> partial(threads, 0);
  for (int r = 0; r < reps; ++r) {
    std::barrier start(threads + 1);
    std::barrier done(threads + 1);
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t begin = words * t / threads;
        const size_t end = words * (t + 1) / threads;
        start.arrive_and_wait();
        partial[t] = SumWords(buf + begin, end - begin);
        done.arrive_and_wait();
      });
    }
    start.arrive_and_wait();
    const auto t0 = std::chrono::steady_clock::now();
    done.arrive_and_wait();
    const auto t1 = std::chrono::steady_clock::now();
    for (auto& th : pool) th.join();
    for (uint64_t p : partial) *checksum += p;
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) /
                              secs / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streaming read bandwidth (JSON on stdout)"};
  size_t size_mib = 1024;
  int reps = 10;
  app.add_option("--size-mib", size_mib, "buffer size in MiB")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--reps", reps, "passes per thread count; best is reported")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  const size_t bytes = size_mib << 20;
  const size_t words = bytes / sizeof(uint64_t);
  auto* buf = static_cast<uint64_t*>(std::aligned_alloc(4096, bytes));
  if (buf == nullptr) {
    std::fprintf(stderr, "membw-bench: cannot allocate %zu bytes\n", bytes);
    return 1;
  }
  // Non-zero, non-constant contents: touches every page before timing and
  // rules out any zero-page or compression shortcut.
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < words; ++i) {
    x ^= x << 13;  // xorshift64
    x ^= x >> 7;
    x ^= x << 17;
    buf[i] = x;
  }

  uint64_t checksum = 0;
  // Warm-up pass so page-table setup does not land in the first timing.
  checksum += SumWords(buf, words);
  const double gb1 = MeasureReadGbS(buf, words, 1, reps, &checksum);
  const double gb2 = MeasureReadGbS(buf, words, 2, reps, &checksum);
  std::free(buf);

  nlohmann::json out = {
      {"read_gb_s_1t", std::round(gb1 * 100) / 100},
      {"read_gb_s_2t", std::round(gb2 * 100) / 100},
      {"buffer_bytes", bytes},
      {"reps", reps},
      {"checksum_low_bits", checksum & 0xFFFF},
  };
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
