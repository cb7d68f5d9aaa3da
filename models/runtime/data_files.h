#pragma once
// Where vitscope's data files live: the bundled models (models/<name>/) and the CLIP prompt
// templates (templates/clip_templates.txt). Looked up in this order, the first folder that
// has the file wins:
//   1. $VITSCOPE_DATA_DIR (a folder laid out like resources/);
//   2. <folder of the executable>/../share/vitscope (an installed package);
//   3. the source tree's resources/ (a build tree; its path is compiled in).

#include <string>
#include <vector>

namespace vitscope {

// The candidate folders, in lookup order (those that do not exist included).
std::vector<std::string> dataDirs();

// The path of `relative` (e.g. "templates/clip_templates.txt") in the first data folder
// that has it. Throws FileError naming the file and every folder looked in.
std::string findDataFile(const std::string &relative);

// The bundled models, by name ("fmnist-mae", "fmnist-clip"): those present in a data folder.
std::vector<std::string> bundledModelNames();

// The local half of resolving a model (the whole, with Hub ids, is the engine's
// resolveModel in src/engine/model_spec.h): a bundled model's name gives that model's
// folder; otherwise an existing file or folder is returned as is. Anything else throws
// FileError naming the argument and the bundled names.
std::string resolveModelDir(const std::string &arg);

// vitscope's own cache folder (kernel choices, extracted features): $VITSCOPE_CACHE_DIR,
// else $XDG_CACHE_HOME/vitscope, else ~/.cache/vitscope; empty when none can be named.
std::string cacheDir();

} // namespace vitscope
