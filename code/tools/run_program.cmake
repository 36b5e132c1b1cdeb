# Runs one chapter program for the book: PROGRAM --out OUT_DIR [ARGS],
# keeping what it prints in LOG. A program that fails stops the build, with
# its output shown. ARGS (space-separated) is empty except in the
# sanitizer build (book_chapter's SANITIZE_ARGS).
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${PROGRAM} --out ${OUT_DIR} ${args}
                OUTPUT_FILE ${LOG} ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(READ ${LOG} out)
  file(REMOVE ${LOG})
  message(FATAL_ERROR "${PROGRAM} failed (${rc}):\n${out}${err}")
endif()
