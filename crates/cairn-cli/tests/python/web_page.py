"""The web page in headless Chromium: load it, ask a question of the sample corpus, wait for
the streamed answer, click a citation and check the passage shown is that source's text.
Args: the server's URL, the folder to save the screenshot in. Prints JSON."""
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

server, out_dir = sys.argv[1], sys.argv[2]
opts = webdriver.ChromeOptions()
opts.binary_location = os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium")
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--window-size=1200,900",
          "--user-data-dir=" + os.path.join(out_dir, "chromium-profile")]:
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service(os.environ.get("CAIRN_CHROMEDRIVER", "/usr/bin/chromedriver")),
                          options=opts)
try:
    wait = WebDriverWait(driver, 60)
    driver.get(server + "/")
    wait.until(lambda d: d.find_element(By.ID, "collection").find_elements(By.TAG_NAME, "option"))
    q = driver.find_element(By.ID, "question")
    q.send_keys("How are trails marked?")
    q.send_keys(Keys.ENTER)  # the keyboard submits, as a user would
    wait.until(EC.text_to_be_present_in_element((By.ID, "facts"), "answered by"))
    answer = driver.find_element(By.ID, "answer").text
    cite = driver.find_element(By.CSS_SELECTOR, "#answer a.cite")
    n = cite.get_attribute("data-n")
    cite.click()
    wait.until(EC.presence_of_element_located((By.ID, "passage-text")))
    passage = driver.find_element(By.ID, "passage-text").text
    where = driver.find_element(By.CSS_SELECTOR, "#passage .where").text
    listed = driver.find_element(By.ID, "source-" + n).text
    shot = os.path.join(out_dir, "web-page.png")
    driver.save_screenshot(shot)
    # A phone-width window keeps everything in view without sideways scrolling.
    driver.set_window_size(390, 844)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    print(json.dumps({"answer": answer, "cited": n, "passage": passage, "where": where,
                      "listed": listed, "facts": driver.find_element(By.ID, "facts").text,
                      "screenshot": shot, "phone_scroll_width": width}))
finally:
    driver.quit()
