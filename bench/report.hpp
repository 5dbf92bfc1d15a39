// The summary of a run: one human line per figure on stderr (unless --quiet), one JSON object on
// stdout and, with --json FILE, in FILE. Which figures appear depends on the scenario.
#pragma once

#include "bench/load_run.hpp"
#include "bench/options.hpp"

namespace tlsfront::bench {

// Writes the summary; returns the exit status (0: no errors, 1: errors or the JSON file could not
// be written).
int write_summary(const LoadOptions& options, const RunReport& report);

}  // namespace tlsfront::bench
