# Runs one chapter program for the book: PROGRAM --out OUT_DIR, keeping
# what it prints in LOG. A program that fails stops the build, with its
# output shown.
execute_process(COMMAND ${PROGRAM} --out ${OUT_DIR}
                OUTPUT_FILE ${LOG} ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(READ ${LOG} out)
  file(REMOVE ${LOG})
  message(FATAL_ERROR "${PROGRAM} failed (${rc}):\n${out}${err}")
endif()
