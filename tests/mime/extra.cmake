# tests/mime/extra.cmake: the MIME corpus tools' own tests (no C++ involved). mime_checker proves that
# check_mime.py, the independent checker every corpus test relies on, fails on each kind of damage and passes a
# correct conversion; mime_corpus checks that the committed corpus files are exactly what make_corpus.py writes.
add_test(NAME mime_checker COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_mime_selftest.py)
add_test(NAME mime_corpus COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/make_corpus.py --check
                                  ${CMAKE_CURRENT_LIST_DIR}/corpus)
set_tests_properties(mime_checker mime_corpus PROPERTIES LABELS mime TIMEOUT 120)
