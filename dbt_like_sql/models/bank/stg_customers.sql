-- Customers without direct identifiers: name, email, phone and national id are dropped;
-- date of birth is generalised to age in whole years and the postcode to its district.
select
    customer_id,
    cast(date_diff('year', date_of_birth, date '2026-06-30')
         - case when strftime(date_of_birth, '%m-%d') > '06-30' then 1 else 0 end as bigint) as age,
    split_part(upper(trim(postcode)), ' ', 1) as postcode_district,
    gender,
    occupation,
    cast(income as double) as income,
    cast(credit_score as bigint) as credit_score,
    cast(churned as bigint) as churned
from customers
