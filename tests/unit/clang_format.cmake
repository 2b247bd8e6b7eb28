# Runs clang-format --dry-run --Werror over every *.c and *.h in the source
# directories and fails listing the files that are not formatted.
#
#   cmake -DSOURCE_DIR=... -DBINARY_DIR=... -DCLANG_FORMAT=... -P this

if(NOT CLANG_FORMAT OR NOT EXISTS "${CLANG_FORMAT}")
  message(FATAL_ERROR "clang-format not found at '${CLANG_FORMAT}'")
endif()

set(files)
foreach(dir common ingest enricher tests bench)
  file(GLOB_RECURSE found
       "${SOURCE_DIR}/${dir}/*.c" "${SOURCE_DIR}/${dir}/*.h")
  list(APPEND files ${found})
endforeach()

set(bad)
set(checked 0)
foreach(file ${files})
  file(RELATIVE_PATH rel "${SOURCE_DIR}" "${file}")
  # Generated and build-tree files are not ours to format.
  if(rel MATCHES "(^|/)build[^/]*/" OR file MATCHES "^${BINARY_DIR}/")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  execute_process(
    COMMAND "${CLANG_FORMAT}" --dry-run --Werror --style=file "${file}"
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND bad "${rel}")
  endif()
endforeach()

if(bad)
  list(LENGTH bad nbad)
  list(JOIN bad "\n  " lines)
  message(FATAL_ERROR
    "${nbad} of ${checked} files are not clang-formatted "
    "(fix with clang-format -i):\n  ${lines}")
endif()
message("${checked} files are clang-formatted")
