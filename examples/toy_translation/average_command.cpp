// toy_translation average: checkpoint averaging, the parameter mean of several model files of one
// run (io::average_models), written as a model file the other commands read like any other.
#include "commands.hpp"
#include "run_files.hpp"

#include <iostream>

namespace toy {

int run_average(const std::string& out, const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw UsageError("average needs at least one model file or run directory");
  std::vector<std::string> paths;
  for (const std::string& in : inputs) paths.push_back(resolve_model_path(in).string());
  save_bundle(out, average_bundles(paths));
  std::cerr << "wrote " << out << ": the average of " << paths.size() << " models\n";
  return 0;
}

}  // namespace toy
