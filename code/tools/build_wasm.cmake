# Builds the playgrounds' WebAssembly module, book_playground.js: the
# library (code/web/playground.cpp and the headers it includes) compiled by
# Emscripten, with the module embedded in the .js file (SINGLE_FILE), so
# that the book works from file:// with no fetch and no server.
#
#   cmake -DEMXX=/usr/bin/em++ -DSOURCE=<repo> -DOUT=<file.js>
#         -DINCLUDE=<folder with only xtensor/, xtl/, xsimd/> -P build_wasm.cmake
#
# If em++ is missing or fails, it writes a stand-in book_playground.js that
# names the reason; every playground then says so on its page instead of
# showing a dead control, and the rest of the book builds as before.
get_filename_component(out_dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${out_dir})

function(write_stand_in reason)
  string(REPLACE "\\" "\\\\" reason "${reason}")
  string(REPLACE "\"" "\\\"" reason "${reason}")
  file(WRITE ${OUT}
       "// The playgrounds' module could not be built; see below.\n"
       "window.BookModuleMissing = \"${reason}\";\n")
  message(WARNING "The playgrounds' WebAssembly module was not built: "
          "${reason}. The book builds without it.")
endfunction()

if(NOT EMXX OR NOT EXISTS "${EMXX}")
  write_stand_in("Emscripten's em++ was not found when the build was configured")
  return()
endif()

# Debian's node does not see Debian's node-acorn, which emcc's optimiser
# needs, without NODE_PATH. No -I/usr/include: it would pull the host's C
# library headers into the WebAssembly build.
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env NODE_PATH=/usr/share/nodejs
          ${EMXX} -O2 -std=c++17 -fexceptions
          -sSINGLE_FILE=1 -sMODULARIZE=1 -sEXPORT_NAME=BookModule
          -sEXPORTED_RUNTIME_METHODS=ccall -sALLOW_MEMORY_GROWTH=1
          -sENVIRONMENT=web,node
          -I${SOURCE}/code/web/no_blas -I${INCLUDE} -I${SOURCE}/code
          -o ${OUT}.tmp.js ${SOURCE}/code/web/playground.cpp
  RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
if(NOT rc EQUAL 0)
  string(REGEX MATCH "[^\n]*error[^\n]*" first_error "${log}")
  if(NOT first_error)
    set(first_error "exit status ${rc}")
  endif()
  message("${log}")
  write_stand_in("em++ failed: ${first_error}")
  return()
endif()
file(RENAME ${OUT}.tmp.js ${OUT})
file(SIZE ${OUT} size)
math(EXPR kib "${size} / 1024")
message(STATUS "book_playground.js: ${kib} KiB")
