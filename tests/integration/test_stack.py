"""An example of testing your app on the real stack: ask for `stack_url`, send real HTTP requests."""

import requests


def test_the_home_page_is_served_by_the_container(stack_url):
    response = requests.get(stack_url + "/", timeout=10)
    assert response.status_code < 500
