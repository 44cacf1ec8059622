#!/bin/bash
sudo -s
sudo apt install nginx -y
# echo $(curl http://169.254.169.254/latest/meta-data/local-ipv4) > /var/www/html/index.html
# systemctl restart nginx
