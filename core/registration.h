#pragma once
// The one macro every static registration uses (kernels, models, measurements): a file-scope variable with
// a unique name per use, whose initialiser performs the registration before main().
#define COLLAPSE_CONCAT_INNER(a, b) a##b
#define COLLAPSE_CONCAT(a, b) COLLAPSE_CONCAT_INNER(a, b)
